// The openai Node SDK's embeddings call with its defaults (it asks for base64 and decodes it), one JSON line out.
// Usage: node embeddings.mjs <base_url> <api_key> <model>
import OpenAI from "openai";

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0, timeout: 20000 });
const r = await client.embeddings.create({ model, input: ["你好", "世界"] });
console.log(JSON.stringify(r.data.map((d) => d.embedding)));
