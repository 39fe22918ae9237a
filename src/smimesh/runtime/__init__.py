"""runtime: wiring and lifetimes — the pipeline (`pipeline.Pipeline`, `debounce.Debouncer`) and the
composition of `smimesh up` (`app`, `api_server`). Only this layer owns long-lived tasks."""
