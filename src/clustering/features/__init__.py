"""Features: one row per customer as of a snapshot date, and what is derived from it.

============ ================================================================================
module       holds
============ ================================================================================
customer     the customer features in DuckDB SQL (definitions and units in its docstring)
signals      per-customer signals: potential, overdue, activity, leads; base health figures
potential    BG/NBD and Gamma-Gamma (maximum likelihood): expected orders and spend
preprocess   transform, winsorise, scale: the fitted steps saved with the model
============ ================================================================================
"""

from clustering.features.customer import CustomerSample, FeatureResult, build_customer_features
from clustering.features.potential import PotentialModel
from clustering.features.preprocess import build_preprocessor
from clustering.features.signals import CustomerSignals

__all__ = ["CustomerSample", "CustomerSignals", "FeatureResult", "PotentialModel",
           "build_customer_features", "build_preprocessor"]
