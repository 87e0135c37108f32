"""Explanation checks of a trained Alifuse checkpoint: do the maps depend on learning, are they faithful, do they
find the planted atrophy?

- sanity: model randomisation (Adebayo et al., NeurIPS 2018), Spearman ρ of trained vs re-randomised maps;
- faithfulness: deleting the top-10 % patches / tokens vs random ones, drop of the predicted class's probability;
- localisation: share of relevance inside the planted atrophy mask vs the mask's share of the brain, and the
  pointing game.

Command: ``python -m trainer.explain_checks --checkpoint FILE --data COHORT_DIR [--out DIR]``.
"""
