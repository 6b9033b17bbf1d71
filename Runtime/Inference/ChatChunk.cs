namespace Qwen3Gen.Inference;

/// <summary>What a streamed piece of a reply is.</summary>
public enum ChatChunkKind
{
    /// <summary>Reasoning: text the model wrote between &lt;think&gt; and &lt;/think&gt;.</summary>
    Thinking,

    /// <summary>The answer: everything outside the think block.</summary>
    Answer,

    /// <summary>A message from the chat loop itself (e.g. "oldest turns dropped"), not model output.</summary>
    Notice,
}

/// <summary>One streamed piece of a reply: complete characters only, never half of one.</summary>
public readonly record struct ChatChunk(ChatChunkKind Kind, string Text);
