"""Access keys, roles and SigV4 verification.

`KeyStore` keeps keys in DATA_DIR/keys.db with secrets sealed by a separate master key;
`SigV4Verifier` turns a signed request into an `AuthContext` or raises `AuthError`.
"""

from opentrail.auth._keys import KeyStore
from opentrail.auth._principal import AuthContext, Principal, Role
from opentrail.auth._sigv4 import SigV4Verifier

__all__ = ["AuthContext", "KeyStore", "Principal", "Role", "SigV4Verifier"]
