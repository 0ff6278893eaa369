"""The shared HTTP kit, below every domain: errors and their JSON shape (`errors`), request
dependencies (`deps`: the session, the settings, the app's pool, cache and runner), the
listings' `limit`/`cursor` query (`pagination`; the pages come from `storage`), and ids (`ids`:
parsing, and `owned_row`, a row read for its owner). It imports no domain, so every domain may
import it; the app factory (`chunkyard.api`) sits above them all."""
