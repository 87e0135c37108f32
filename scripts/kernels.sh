# Sourced by the long training scripts (train_demo.sh, tables_demo.sh, experiments.sh): threads and kernel set, so
# that torch's arithmetic does not depend on which x86-64 machine a run lands on. torch, oneDNN and MKL pick their
# kernels by the processor's instruction set, and the set changes a run: the recipe's stem trained with AVX2 kernels
# kept epoch 12 (val AUC 0.885), with AVX-512 kernels epoch 13 (0.876), on the same cohort and code (2026-12-07, one
# AMD EPYC; on 42 cases the weights differed by 1e-4 after three epochs). Held to AVX2, which nearly every x86-64
# machine of the last decade has, a machine with AVX-512 runs the kernels of one without. That is not enough for the
# same figures on every machine: on an AMD EPYC without AVX-512 the cohort renderer (numpy, scipy: not pinned here)
# wrote other bytes for 241 of 2,100 training images and the stem went its own way (docs/RESULTS.md); MKL's own paths
# on Intel against AMD and oneDNN's blocking by cache size are not checked either. On the stem it cost about 5 %
# (102 s against 97 s for three epochs). A processor without AVX2 keeps its own kernels (torch would crash on AVX2
# code); a variable set before is kept.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then
    export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2}
    export MKL_ENABLE_INSTRUCTIONS=${MKL_ENABLE_INSTRUCTIONS:-AVX2}
fi
