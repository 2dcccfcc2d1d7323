-- wrk script: one 2-message chat completion, POST, with the bench client key.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-master-key-0123456789abcdef"
wrk.body = '{"model":"mock-model","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Hello, please say hi back in one short sentence."}],"max_tokens":64}'
