"""What momentfinder keeps on disk: the feature cache and Moment-DETR-layout feature directories
(reader, writer, manifest). The library's catalog and vector index will live here too."""

from ..atomic import write_atomic
from .cache import FeatureCache, FeatureKey, default_cache_dir, file_hash
from .feature_dir import (
    DEFAULT_CLIP_LEN,
    MANIFEST,
    QUERY_MANIFEST,
    FeatureDirectory,
    FeatureDirectoryWriter,
    check_id,
    check_sample_ids,
    read_manifest,
    read_queries,
    write_manifest,
)
from .record import FeatureRecord

__all__ = [
    "DEFAULT_CLIP_LEN",
    "MANIFEST",
    "QUERY_MANIFEST",
    "FeatureCache",
    "FeatureDirectory",
    "FeatureDirectoryWriter",
    "FeatureKey",
    "FeatureRecord",
    "check_id",
    "check_sample_ids",
    "default_cache_dir",
    "file_hash",
    "read_manifest",
    "read_queries",
    "write_atomic",
    "write_manifest",
]
