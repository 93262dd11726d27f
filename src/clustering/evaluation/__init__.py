"""Evaluation: every segmentation (the clusters and each baseline) scored the same way.

========= =================================================================================
module    holds
========= =================================================================================
metrics   internal indices, size balance, business separation, agreement, planted truth
holdout   the future: refit before a hold-out window and score who bought again
scorecard the practitioners' checklist of a good segmentation, each criterion measured
========= =================================================================================
"""

from clustering.evaluation.holdout import future_validation
from clustering.evaluation.metrics import Segmentation, agreement, score_labelling

__all__ = ["Segmentation", "agreement", "future_validation", "score_labelling"]
