"""``controlplane dev``: the whole platform on one machine, with local stand-ins for the vendors.

The stand-ins (``fake_twilio``, ``fake_stripe``, ``evm_rpc`` and the ``chain`` on it) are the servers the test suite
uses at the network boundary; ``stack`` decides which of them dev runs and how the real SDKs reach them, ``api``
is the development-only router, ``envfile`` the ``.data/dev.env`` other commands read, ``tools`` the background
install of the engine's tools, ``command`` the ``dev`` command itself. Nothing here runs outside development.
"""
