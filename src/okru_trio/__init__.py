"""okru over trio: h11 driven directly over trio streams, with aiookru's session/API shape.

```python
async with okru_trio.CodeSession(app_id, app_key, app_secret_key, code, redirect_uri) as session:
    api = okru_trio.API(session)
    user = await api.users.getCurrentUser()
```
"""

from okru_proto import Endpoints, Error, RetryPolicy, Token
from okru_proto import __version__ as __version__  # one version for every okru package
from okru_proto.adapter import (
    API,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_TIMEOUT,
)

from ._sessions import (
    AppSession,
    BotSession,
    ClientSession,
    CodeSession,
    ImplicitSession,
    PasswordSession,
    PublicSession,
    RefreshSession,
    ServerSession,
    TrioSession,
)
from ._transport import H11Transport

__all__ = [
    "API",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "AppSession",
    "BotSession",
    "ClientSession",
    "CodeSession",
    "Endpoints",
    "Error",
    "H11Transport",
    "ImplicitSession",
    "PasswordSession",
    "PublicSession",
    "RefreshSession",
    "RetryPolicy",
    "ServerSession",
    "Token",
    "TrioSession",
]
