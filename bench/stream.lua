-- wrk script: one streamed chat completion (the recorded 100-event answer), POST, with the bench client key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-master-key-0123456789abcdef"
wrk.body = '{"model":"mock-stream","stream":true,"messages":[{"role":"user","content":"Hello, please say hi back in one short sentence."}],"max_tokens":128}'
