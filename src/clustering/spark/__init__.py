"""Spark: the engine for data that outgrows one machine. The only wing that imports pyspark,
and only inside functions, so nothing starts a JVM until Spark is asked for.

=========== ================================================================================
module      holds
=========== ================================================================================
engine      :class:`SparkEngine`: the Engine protocol on a Spark session
features    the customer features in Spark SQL, the session, reading the tables
stages      the distributed run's stages (features, sample, MLlib, aggregates, labels)
segmenter   Spark MLlib k-means, bisecting k-means and Gaussian mixture
profiles    one aggregate row per segment
baselines   RFM, ABC-XYZ and lifecycle in Spark SQL
scoring     batch scoring with the registered model's Spark UDF
=========== ================================================================================
"""
