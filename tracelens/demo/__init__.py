"""tracelens.demo: the simulated shop behind `tracelens demo` (see docs/demo.md).

* ``timeline``  -- ``--scenario NAME[@START[+LENGTH]]`` parsing; what is broken at time t
* ``breaker``   -- the payment client's circuit breaker, in simulated time
* ``shop``      -- services, pods, latency/error model: one request -> a tree of Calls
* ``emit``      -- Calls -> spans with the real OpenTelemetry SDK (seeded ids, one
  TracerProvider per pod, one shared BatchSpanProcessor)
* ``simulate``  -- Poisson arrivals over the timeline, with exporter backpressure
* ``run``       -- store + embedded receiver + the shop in a child process, over OTLP/gRPC
* ``report``    -- the story, computed from the stored spans by tracelens' analyses
* ``offline``   -- the same spans without a network (SDK protobuf -> tracelens decoder)
* ``fixtures``  -- the OTLP/JSON fixtures in fixtures/demo/
* ``topology``  -- synthetic topologies for service-graph benchmarks (not the shop)
"""
