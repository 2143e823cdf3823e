"""`facevault serve`: a warm process answering a store's searches (`app`), and how a caller reaches it (`client`).

A layer of its own between the command line and the Python API: `app` holds a `facevault.api.Vault`; `client`
imports only the standard library, so `facevault search` can ask a server before loading anything heavy.
"""
