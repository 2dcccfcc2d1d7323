// The openai Node SDK's chat call, a reply or a stream asking include_usage; one JSON line out: the answer's text
// and the usage the SDK read (null when none).
// Usage: node usage.mjs <base_url> <api_key> <model> <reply|stream>
import OpenAI from "openai";

const [baseURL, apiKey, model, shape] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const messages = [{ role: "user", content: "你好" }];
let text = "";
let usage = null;
if (shape === "stream") {
  const s = await client.chat.completions.create({ model, messages, stream: true, stream_options: { include_usage: true } });
  for await (const chunk of s) {
    text += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
} else {
  const r = await client.chat.completions.create({ model, messages });
  text = r.choices[0].message.content;
  usage = r.usage ?? null;
}
console.log(JSON.stringify({ text, usage }));
