"""Access packages (Art. 15 / Art. 20): encrypted where written, assembled without plaintext,
stored behind a storage interface, expired by a durable timer, shredded with the request's key.

- `_crypto`: the streaming AEAD container every package file uses;
- `_storage`: `PackageStorage`, its typed errors and the filesystem backend (DSR_PACKAGE_DIR);
- `_s3`: the S3-compatible backend (DSR_PACKAGE_STORAGE=s3; boto3 imported only then);
- `_parts`: the connectors' encrypting export sink (per-system, per-category parts) and where a
  request's objects are kept;
- `_builder`: the archive (JSON + CSV per system and category, Art. 15 document, manifest);
- `_committed`: a retried build whose parts are gone gets the package already committed,
  verified against its manifest (`_zipstream` hashes the archive's files as it streams);
- `_reader`: manifest and extraction for handing over (all or nothing, owner-only);
- `_service`: `PackageService` (build, expire + shred, show, extract, shred report).
"""

from orchestrator.package._committed import PartsMissing
from orchestrator.package._crypto import PackageCorrupt
from orchestrator.package._parts import EncryptedExportParts, EncryptedPartSink
from orchestrator.package._reader import ChecksumMismatch, HandoverDirectoryRefused
from orchestrator.package._service import PackageService, ShredReport
from orchestrator.package._storage import (
    FilesystemStorage,
    ObjectMissing,
    PackageStorage,
    StorageAccessDenied,
    StorageError,
    StorageFailed,
    StorageUnavailable,
    storage_from_settings,
)

__all__ = [
    "ChecksumMismatch",
    "EncryptedExportParts",
    "EncryptedPartSink",
    "FilesystemStorage",
    "HandoverDirectoryRefused",
    "ObjectMissing",
    "PackageCorrupt",
    "PackageService",
    "PackageStorage",
    "PartsMissing",
    "ShredReport",
    "StorageAccessDenied",
    "StorageError",
    "StorageFailed",
    "StorageUnavailable",
    "storage_from_settings",
]
