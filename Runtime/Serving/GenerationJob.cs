using System.Threading.Channels;
using Qwen3Gen.Inference;
using Qwen3Gen.Sampling;

namespace Qwen3Gen.Serving;

/// <summary>One request to a <see cref="BatchEngine"/>: a prompt and how to continue it.</summary>
public sealed record GenerationJob
{
    /// <summary>Token ids of the prompt (a rendered chat, or raw text).</summary>
    public required int[] Prompt { get; init; }

    /// <summary>Sampler options (temperature 0 = greedy).</summary>
    public SamplingOptions Sampling { get; init; } = SamplingOptions.Greedy;

    /// <summary>Seed of this request's sampler; null: a fresh random seed.</summary>
    public ulong? Seed { get; init; }

    /// <summary>Most tokens to generate (a stop id, when sampled, counts as one).</summary>
    public int MaxTokens { get; init; } = 256;

    /// <summary>Text that ends the reply where it first appears (cut from the reply).</summary>
    public IReadOnlyList<string>? StopStrings { get; init; }

    /// <summary>Route &lt;think&gt; blocks to <see cref="ChatChunkKind.Thinking"/> chunks (chat) or keep them as text (completion).</summary>
    public bool SeparateThinking { get; init; } = true;

    /// <summary>Called on the engine's thread with each sampled id, as it is sampled (timing, tracing); keep it short.</summary>
    public Action<int>? OnToken { get; init; }

    /// <summary>Cancels the request (a client that went away): its slot is freed at the next step.</summary>
    public CancellationToken Cancellation { get; init; }
}

/// <summary>Why a request ended.</summary>
public enum FinishReason
{
    /// <summary>A stop id or a stop string: OpenAI "stop".</summary>
    Stop,
    /// <summary>max_tokens reached or the slot's context full: OpenAI "length".</summary>
    Length,
    /// <summary>The request's cancellation token fired.</summary>
    Cancelled,
}

/// <summary>A finished request.</summary>
public sealed record GenerationResult
{
    public required string Thinking { get; init; }
    public required string Answer { get; init; }

    /// <summary>Every sampled id, the stop id included when one ended the reply.</summary>
    public required int[] GeneratedIds { get; init; }

    public required FinishReason Finish { get; init; }

    public required int PromptTokens { get; init; }

    /// <summary>Prompt tokens whose keys and values were already in the slot's cache (a shared prefix).</summary>
    public required int CachedPromptTokens { get; init; }

    /// <summary>Sampled tokens between &lt;think&gt; and &lt;/think&gt; (both tags included).</summary>
    public required int ReasoningTokens { get; init; }
}

/// <summary>What <see cref="BatchEngine.Submit"/> hands back: the streamed text and the final result.</summary>
public sealed class GenerationHandle
{
    private readonly Channel<ChatChunk> _chunks = Channel.CreateUnbounded<ChatChunk>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    private readonly TaskCompletionSource<GenerationResult> _result = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Text as it is generated: thinking and answer pieces, complete characters only. Completes with the request.</summary>
    public ChannelReader<ChatChunk> Chunks => _chunks.Reader;

    /// <summary>The finished request; faults if the engine failed on it.</summary>
    public Task<GenerationResult> Result => _result.Task;

    internal void Write(ChatChunk chunk) => _chunks.Writer.TryWrite(chunk);

    internal void Complete(GenerationResult result)
    {
        _chunks.Writer.TryComplete();
        _result.TrySetResult(result);
    }

    internal void Fail(Exception e)
    {
        _chunks.Writer.TryComplete(e);
        _result.TrySetException(e);
    }
}

/// <summary>Thrown by <see cref="BatchEngine.Submit"/> when every slot is busy and the queue is full (HTTP 429).</summary>
public sealed class EngineBusyException(string message) : Exception(message);
