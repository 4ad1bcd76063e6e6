"""The sans-I/O protocol core: encoders, decoders and state machines.

Nothing here does I/O, imports gevent or reads a clock; time is passed in. Every decoder
raises a :class:`gsocketio.ProtocolError` subclass on bad input and respects :class:`Limits`.
"""

from gsocketio.protocol.limits import Limits

__all__ = ["Limits"]
