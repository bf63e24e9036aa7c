/**
 * The one way the simulated caller and the LLM judge talk to a model: a chat completion on any
 * OpenAI-compatible server (`/chat/completions`, not streamed), with function tools. A failure is one
 * line naming the server and what went wrong.
 */

export interface ModelEndpoint {
  model: string;
  /** e.g. https://api.openai.com/v1 */
  baseUrl: string;
  apiKey?: string;
  timeoutMs?: number;
}

export type ChatMessage =
  | { role: 'system' | 'user'; content: string }
  | { role: 'assistant'; content: string | null; tool_calls?: ToolCall[] }
  | { role: 'tool'; tool_call_id: string; content: string };

export interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface Tool {
  name: string;
  description: string;
  /** JSON Schema; as OpenAI's strict mode wants it, every property required. */
  parameters: Record<string, unknown>;
}

export interface Completion {
  text: string;
  toolCalls: { id: string; name: string; arguments: Record<string, unknown> }[];
  /** The assistant message as it goes back into the history. */
  message: ChatMessage;
  tokens: number;
}

export class ModelError extends Error {}

export async function complete(endpoint: ModelEndpoint, messages: ChatMessage[], tools: Tool[] = []): Promise<Completion> {
  const url = `${endpoint.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  const body = {
    model: endpoint.model,
    messages,
    stream: false,
    ...(tools.length ? { tools: tools.map((t) => ({ type: 'function', function: t })) } : {}),
  };
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(endpoint.apiKey ? { authorization: `Bearer ${endpoint.apiKey}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(endpoint.timeoutMs ?? 60_000),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new ModelError(`${endpoint.model} at ${endpoint.baseUrl}: ${cause ?? (err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    const why = (() => {
      try {
        return (JSON.parse(text) as { error?: { message?: string } }).error?.message;
      } catch {
        return undefined;
      }
    })();
    throw new ModelError(`${endpoint.model} at ${endpoint.baseUrl}: HTTP ${res.status}${why ? ` (${why})` : ''}`);
  }
  let json: {
    choices?: { message?: { content?: string | null; tool_calls?: ToolCall[] } }[];
    usage?: { total_tokens?: number };
  };
  try {
    json = JSON.parse(text);
  } catch {
    throw new ModelError(`${endpoint.model} at ${endpoint.baseUrl}: the answer is not JSON`);
  }
  const msg = json.choices?.[0]?.message;
  if (!msg) throw new ModelError(`${endpoint.model} at ${endpoint.baseUrl}: the answer has no message`);
  const calls = msg.tool_calls ?? [];
  return {
    text: msg.content ?? '',
    toolCalls: calls.map((c) => ({ id: c.id, name: c.function.name, arguments: parseArguments(c.function.arguments) })),
    message: { role: 'assistant', content: msg.content ?? null, ...(calls.length ? { tool_calls: calls } : {}) },
    tokens: json.usage?.total_tokens ?? 0,
  };
}

function parseArguments(raw: string): Record<string, unknown> {
  try {
    const v = JSON.parse(raw || '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
