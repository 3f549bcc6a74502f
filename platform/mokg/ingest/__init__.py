"""Ingestion of Amazon review data (2014, 2018, 2023 formats) into the graph."""

from mokg.ingest.pipeline import IngestReport, ingest
from mokg.ingest.readers import InputFileError

__all__ = ["IngestReport", "InputFileError", "ingest"]
