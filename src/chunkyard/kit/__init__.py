"""The shared HTTP kit, below every domain: errors and their JSON shape (`errors`), request
dependencies (`deps`: the session, the settings, the app's pool, cache and runner), keyset
pagination (`pagination`) and id parsing (`ids`). It imports no domain, so every domain may
import it; the app factory (`chunkyard.api`) sits above them all."""
