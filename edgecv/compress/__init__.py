"""Model-transforming building blocks used by the stages: structured pruning, 2:4 sparsity, distillation losses."""
