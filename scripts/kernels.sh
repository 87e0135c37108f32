# Sourced by the long training scripts (train_demo.sh, tables_demo.sh): the same arithmetic on any x86-64 machine.
# torch, oneDNN and MKL pick their kernels by the processor's instruction set, and the set changes a run: the recipe's
# stem trained with AVX2 kernels kept epoch 12 (val AUC 0.885), with AVX-512 kernels epoch 13 (0.876), on the same
# cohort and code (2026-12-07, one AMD EPYC; on 42 cases the weights differed by 1e-4 after three epochs). Held to
# AVX2, which every x86-64 machine of the last decade has, a machine with AVX-512 runs the kernels of one without
# (not yet compared on a machine without it), so a run, or a --resume, gives the same figures on either. On the stem
# it cost about 5 % (102 s against 97 s for three epochs). Set a variable before to choose otherwise.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2}
export MKL_ENABLE_INSTRUCTIONS=${MKL_ENABLE_INSTRUCTIONS:-AVX2}
