// The official OpenAI JavaScript client (npm `openai`) against a live qwen3gen server: JsClientTests starts the
// servers, runs `node client.mjs RANDOM SCRIPTED BUSY` (three base URLs ending in /v1) and checks what this prints:
// one JSON object with what the client returned for each call. Nothing is checked here; the C# test asserts.
//   RANDOM:   a random tiny model (greedy): chat and completions, streaming and not, error objects.
//   SCRIPTED: a model that writes a scripted Qwen3 reply: tool calls (streaming too), the tool result, reasoning.
//   BUSY:     one sequence and no queue: a second request while a stream runs gets 429; aborting frees the slot.
import OpenAI from 'openai';

const [random, scripted, busy] = process.argv.slice(2);
const client = (baseURL) => new OpenAI({ baseURL, apiKey: 'unused', maxRetries: 0, timeout: 120_000 });
const model = 'qwen3-serve-test';
const out = {};

// What the client threw: its class and the OpenAI error fields it parsed from the body.
const caught = async (call) => {
  try {
    await call();
    return { threw: false };
  } catch (e) {
    return { threw: true, class: e?.constructor?.name, status: e.status, type: e.type, code: e.code, param: e.param, message: e.message };
  }
};

// --- chat and completions on the random model
{
  const c = client(random);
  const messages = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say something.' }];
  const whole = await c.chat.completions.create({ model, messages, max_tokens: 12 });
  out.chat = {
    id: whole.id, object: whole.object, model: whole.model, role: whole.choices[0].message.role,
    content: whole.choices[0].message.content, finish_reason: whole.choices[0].finish_reason, usage: whole.usage,
  };

  const stream = await c.chat.completions.create({ model, messages, max_tokens: 12, stream: true, stream_options: { include_usage: true } });
  let text = '', finish = null, usage = null, chunks = 0, firstRole = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    const choice = chunk.choices[0];
    if (!choice) continue;
    if (firstRole === null && choice.delta.role) firstRole = choice.delta.role;
    if (choice.delta.content) text += choice.delta.content;
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  out.chatStream = { content: text, finish_reason: finish, usage, chunks, role: firstRole };

  const completion = await c.completions.create({ model, prompt: 'Once upon a time', max_tokens: 7 });
  out.completion = {
    object: completion.object, text: completion.choices[0].text, finish_reason: completion.choices[0].finish_reason, usage: completion.usage,
  };
  let streamed = '';
  for await (const chunk of await c.completions.create({ model, prompt: 'Once upon a time', max_tokens: 7, stream: true }))
    streamed += chunk.choices[0]?.text ?? '';
  out.completionStream = { text: streamed };

  out.tooLong = await caught(() => c.chat.completions.create({ model, messages: [{ role: 'user', content: 'word '.repeat(600) }] }));
  out.badTemperature = await caught(() => c.chat.completions.create({ model, messages, temperature: 5 }));
  out.badRole = await caught(() => c.chat.completions.create({ model, messages: [{ role: 'wizard', content: 'hi' }] }));
}

// --- tool calls and reasoning on the scripted model
{
  const c = client(scripted);
  const tools = [{
    type: 'function',
    function: {
      name: 'get_weather', description: 'The weather in a city.',
      parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] },
    },
  }];
  const messages = [{ role: 'user', content: 'What is the weather in Paris?' }];
  const call = await c.chat.completions.create({ model, messages, tools });
  const message = call.choices[0].message;
  out.toolCall = { finish_reason: call.choices[0].finish_reason, content: message.content, tool_calls: message.tool_calls };

  const deltas = [];
  let content = '', finish = null;
  for await (const chunk of await c.chat.completions.create({ model, messages, tools, stream: true })) {
    const choice = chunk.choices[0];
    if (!choice) continue;
    for (const d of choice.delta.tool_calls ?? []) deltas.push(d);
    if (choice.delta.content) content += choice.delta.content;
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  out.toolCallStream = { finish_reason: finish, content, deltas };

  const answer = await c.chat.completions.create({
    model, tools,
    messages: [...messages, message, { role: 'tool', tool_call_id: message.tool_calls?.[0]?.id, content: '{"temperature": 22}' }],
  });
  out.toolAnswer = { finish_reason: answer.choices[0].finish_reason, content: answer.choices[0].message.content };

  const hi = await c.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hi' }] });
  out.reasoning = { reasoning_content: hi.choices[0].message.reasoning_content, content: hi.choices[0].message.content };
  const noThinking = await c.chat.completions.create({
    model, messages: [{ role: 'user', content: 'Hi' }], chat_template_kwargs: { enable_thinking: false },
  });
  out.noThinking = { reasoning_content: noThinking.choices[0].message.reasoning_content ?? null, content: noThinking.choices[0].message.content };
}

// --- 429 while the only sequence is busy, then the aborted stream frees it
{
  const c = client(busy);
  const controller = new AbortController();
  const stream = await c.completions.create({ model, prompt: 'Once upon a time', max_tokens: 3000, stream: true }, { signal: controller.signal });
  const iterator = stream[Symbol.asyncIterator]();
  await iterator.next();                                     // the stream is running: its sequence holds the slot
  out.busy = await caught(() => c.completions.create({ model, prompt: 'Hello', max_tokens: 2 }));
  controller.abort();
  try { while (!(await iterator.next()).done); } catch { /* the abort ends the iteration with an error */ }
  let freed = null;
  for (let attempt = 0; attempt < 100 && freed === null; attempt++) {
    try {
      const r = await c.completions.create({ model, prompt: 'Hello', max_tokens: 2 });
      freed = { attempts: attempt + 1, finish_reason: r.choices[0].finish_reason, completion_tokens: r.usage.completion_tokens };
    } catch (e) {
      if (e.status !== 429) throw e;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  out.afterAbort = freed;
}

process.stdout.write(JSON.stringify(out));
