# The same service as web.json, in HCL.
service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["rails", "v1"]
  meta = { version = "1.0" }
  tagged_addresses {
    lan = { address = "10.0.0.5", port = 8080 }
  }
  enable_tag_override = true
  weights { passing = 3, warning = 1 }
  check {
    id                                = "web-http"
    name                              = "HTTP /health"
    http                              = "http://localhost:8080/health"
    method                            = "post"
    header                            = { X-Probe = ["yes"] }
    interval                          = "10s"
    timeout                           = "1s"
    failures_before_critical          = 3
    success_before_passing            = 2
    deregister_critical_service_after = "90m"
  }
  check {
    name = "ttl"
    ttl  = "30s"
  }
  connect {
    sidecar_service {
      proxy {
        upstreams = [
          { destination_name = "db", local_bind_port = 9191, local_bind_address = "127.0.0.1" },
        ]
      }
    }
  }
}
