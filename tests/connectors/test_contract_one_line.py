"""The one-line contract test (`connector_contract`, what the scaffold generates) against a
real sandbox: the support desk, through `running_system` (tests/connectors/conftest.py) and the
connector's own `from_settings()`. Proves the path a new connector's generated test takes, end
to end, without the test module importing the dev stack or the sandbox."""

from connectors.support import SupportConnector
from connectors.testing import connector_contract

TestSupportConnectorInOneLine = connector_contract(
    SupportConnector, sandbox_options={"rate_limit": "0"}
)
