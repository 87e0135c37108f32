"""``alifuse-bench``: the performance figures of this machine (latency, throughput, FLOPs, MFU)."""
from trainer.bench.flops import forward_flops, prediction_flops, training_flops
from trainer.bench.machine import BF16_PEAKS, bf16_peak, machine_info
from trainer.bench.runner import GROUPS, run_groups

__all__ = ["forward_flops", "training_flops", "prediction_flops", "bf16_peak", "BF16_PEAKS", "machine_info",
           "GROUPS", "run_groups"]
