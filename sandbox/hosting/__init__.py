"""The shared-hosting control panel's sandbox: its database schema, the home directory tree, and
a seeder that gives every customer `sandbox.presence` assigns to hosting a realistic account.

There is no HTTP server: the panel's database and its file tree are its interface, and the
hosting connector talks SQL and the filesystem.
"""

from sandbox.hosting.records import (
    BACKUP_MONTHS,
    AccessLogEntry,
    Backup,
    FtpUser,
    HomeFile,
    HostedDatabase,
    HostingAccount,
    Mailbox,
    add_months,
    hosting_account,
)
from sandbox.hosting.schema import (
    ACCOUNT_STATUSES,
    access_logs,
    accounts,
    backups,
    databases,
    domains,
    ftp_users,
    mailboxes,
    metadata,
)
from sandbox.hosting.seed import (
    CATEGORIES,
    HostingSeedExample,
    HostingSeedExamples,
    HostingSeedSummary,
    SeededHosting,
    async_database_url,
    category_counts,
    seed_hosting,
    seeded_hosting,
)
from sandbox.hosting.tree import MARKER, prepare_home_root, write_homes

__all__ = [
    "ACCOUNT_STATUSES",
    "BACKUP_MONTHS",
    "CATEGORIES",
    "MARKER",
    "AccessLogEntry",
    "Backup",
    "FtpUser",
    "HomeFile",
    "HostedDatabase",
    "HostingAccount",
    "HostingSeedExample",
    "HostingSeedExamples",
    "HostingSeedSummary",
    "Mailbox",
    "SeededHosting",
    "access_logs",
    "accounts",
    "add_months",
    "async_database_url",
    "backups",
    "category_counts",
    "databases",
    "domains",
    "ftp_users",
    "hosting_account",
    "mailboxes",
    "metadata",
    "prepare_home_root",
    "seed_hosting",
    "seeded_hosting",
    "write_homes",
]
