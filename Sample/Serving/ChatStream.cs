using System.Text.Json;
using Qwen3Gen.Inference;
using Qwen3Gen.Serving;

namespace Qwen3Gen.Sample.Serving;

/// <summary>
/// One streamed chat completion: a first chunk with the role, then a delta per piece of text as the engine produces
/// it (reasoning_content for the think block, content for the answer, tool_calls for each complete
/// <c>&lt;tool_call&gt;</c> block when the request has tools), a last chunk with the finish_reason, the usage chunk
/// when stream_options.include_usage asks for it, and <c>data: [DONE]</c>.
/// </summary>
internal sealed class ChatStream(SseWriter sse, string id, long created, string model, bool parseTools, bool includeUsage)
{
    private readonly ToolCallParser? _tools = parseTools ? new ToolCallParser() : null;
    private readonly List<AnswerPiece> _pieces = [];

    public async Task Run(GenerationHandle handle, CancellationToken token)
    {
        await Send(w => w.WriteString("role", "assistant"), null, token).ConfigureAwait(false);
        await foreach (var chunk in handle.Chunks.ReadAllAsync(token).ConfigureAwait(false))
        {
            if (chunk.Kind == ChatChunkKind.Thinking)
                await Send(w => w.WriteString("reasoning_content", chunk.Text), null, token).ConfigureAwait(false);
            else if (_tools is null)
                await Send(w => w.WriteString("content", chunk.Text), null, token).ConfigureAwait(false);
            else
            {
                _tools.Push(chunk.Text, _pieces);
                await SendPieces(token).ConfigureAwait(false);
            }
        }
        var result = await handle.Result.ConfigureAwait(false);
        if (result.Finish == FinishReason.Cancelled) return;
        if (_tools is not null)
        {
            _tools.Finish(_pieces);
            await SendPieces(token).ConfigureAwait(false);
        }
        await Send(null, OpenAiJson.FinishReason(result.Finish, _tools is { Calls: > 0 }), token).ConfigureAwait(false);
        if (includeUsage)
            await sse.Send(OpenAiJson.Write(w =>
            {
                w.WriteStartObject();
                OpenAiJson.Head(w, id, "chat.completion.chunk", created, model);
                w.WriteStartArray("choices");
                w.WriteEndArray();
                OpenAiJson.Usage(w, result);
                w.WriteEndObject();
            }), token).ConfigureAwait(false);
        await sse.Done(token).ConfigureAwait(false);
    }

    private int _callIndex;

    private async Task SendPieces(CancellationToken token)
    {
        foreach (var piece in _pieces)
        {
            if (piece.ToolCall is { } call)
            {
                int index = _callIndex++;
                await Send(w =>
                {
                    w.WriteStartArray("tool_calls");
                    OpenAiJson.ToolCall(w, call, ParsedToolCall.NewId(), index);
                    w.WriteEndArray();
                }, null, token).ConfigureAwait(false);
            }
            else await Send(w => w.WriteString("content", piece.Text), null, token).ConfigureAwait(false);
        }
        _pieces.Clear();
    }

    /// <summary>One chat.completion.chunk whose delta <paramref name="delta"/> writes (empty when null).</summary>
    private Task Send(Action<Utf8JsonWriter>? delta, string? finish, CancellationToken token) => sse.Send(OpenAiJson.Write(w =>
    {
        w.WriteStartObject();
        OpenAiJson.Head(w, id, "chat.completion.chunk", created, model);
        w.WriteStartArray("choices");
        w.WriteStartObject();
        w.WriteNumber("index", 0);
        w.WriteStartObject("delta");
        delta?.Invoke(w);
        w.WriteEndObject();
        w.WriteNull("logprobs");
        if (finish is null) w.WriteNull("finish_reason"); else w.WriteString("finish_reason", finish);
        w.WriteEndObject();
        w.WriteEndArray();
        w.WriteEndObject();
    }), token);
}
