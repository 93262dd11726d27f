"""Evaluation: every segmentation (the clusters and each baseline) scored the same way.

========= =================================================================================
module    holds
========= =================================================================================
metrics   internal indices, size balance, business separation, agreement, planted truth
holdout   the future: refit before a hold-out window and score who bought again
campaigns response and uplift per segment and persona, with intervals (campaigns table)
drift     segments over time: transitions between snapshots, share drift (PSI), plots
scorecard the practitioners' checklist of a good segmentation, each criterion measured
========= =================================================================================
"""

from clustering.evaluation.holdout import future_validation
from clustering.evaluation.metrics import Segmentation, agreement, score_labelling

__all__ = ["Segmentation", "agreement", "future_validation", "score_labelling"]
