// The client matrix's Node leg: the official openai SDK against the gateway, one line of JSON per scenario.
// Usage: node matrix.mjs <base_url> <api_key>
import OpenAI from "openai";

const [baseURL, apiKey] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const messages = (text) => [{ role: "user", content: text }];
const tool = {
  type: "function",
  function: { name: "lookup", description: "Look something up", parameters: { type: "object", properties: { query: { type: "string" } } } },
};

async function stream(model, text) {
  let content = "";
  const s = await client.chat.completions.create({ model, messages: messages(text), stream: true });
  for await (const chunk of s) content += chunk.choices[0]?.delta?.content ?? "";
  return content.length > 0 ? "ok" : "empty";
}

const scenarios = {
  chat: async () => {
    const r = await client.chat.completions.create({ model: "chat", messages: messages("你好，Node") });
    return r.choices[0].message.content ? "ok" : "empty";
  },
  stream: () => stream("chat", "流式，Node"),
  tools: async () => {
    const r = await client.chat.completions.create({ model: "chat", messages: messages("查一下天气"), tools: [tool] });
    return r.choices[0].message.tool_calls?.length ? "tool_calls" : "no_tool_calls";
  },
  failover: () => stream("fo", "故障转移，Node"),
  cut: () => stream("cut", "中途断开，Node"),
};

for (const [name, run] of Object.entries(scenarios)) {
  let result;
  try {
    result = await run();
  } catch (e) {
    result = "error";
  }
  console.log(JSON.stringify({ scenario: name, result }));
}
