"""wasmpool's broker side: the ZeroMQ broker, wire protocol, clients and state stores."""
