namespace Qwen3Gen.Training;

/// <summary>
/// The whole of a split (usually validation) in consecutive windows, so that every next-token target
/// (tokens 1 … n−1) is scored exactly once: window w starts at s = w·T, inputs = tokens[s, s+L),
/// targets = tokens[s+1, s+L+1) with L = min(T, n−1−s). Windows are grouped into batches of B rows.
/// The last window may be short and the last batch may have fewer windows: their missing positions
/// get input 0 and target <see cref="TextDataset.IgnoreIndex"/>, so every batch keeps the [B, T] shape
/// and a causal model's real positions are unaffected by the padding after them. The loss over the
/// split is Σ (batch mean loss × <see cref="Fill"/>'s target count) / <see cref="TargetCount"/>.
/// </summary>
public sealed class SequentialWindows
{
    private readonly ReadOnlyMemory<int> _tokens;

    /// <param name="includePartialWindow">False drops the final short window (the last &lt; T targets are then not scored; only rows past the last window are padded).</param>
    public SequentialWindows(ReadOnlyMemory<int> tokens, int batch, int context, bool includePartialWindow = true)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "Batch must be at least 1.");
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), context, "Context must be at least 1.");
        if ((long)batch * context > int.MaxValue) throw new ArgumentException($"Batch × context ({(long)batch * context}) is too large.");
        int targets = tokens.Length - 1;
        Windows = includePartialWindow ? (targets + context - 1) / context : targets / context;
        if (Windows < 1)
            throw new ArgumentException($"The split has {tokens.Length} tokens: not enough for one window of context {context}.", nameof(tokens));
        _tokens = tokens;
        Batch = batch;
        Context = context;
        Batches = (Windows + batch - 1) / batch;
        TargetCount = Math.Min(targets, (long)Windows * context);
    }

    public int Batch { get; }

    public int Context { get; }

    /// <summary>Number of windows (rows) over the split.</summary>
    public int Windows { get; }

    /// <summary>Number of batches: ⌈Windows / Batch⌉.</summary>
    public int Batches { get; }

    /// <summary>Targets scored over all batches (n − 1 when the partial window is included).</summary>
    public long TargetCount { get; }

    /// <summary>Fills batch <paramref name="index"/> ([Batch, Context] row-major); returns how many targets in it are real (not ignored).</summary>
    public int Fill(int index, Span<int> inputs, Span<int> targets)
    {
        if ((uint)index >= (uint)Batches) throw new ArgumentOutOfRangeException(nameof(index), index, $"There are {Batches} validation batches.");
        int T = Context, n = Batch * T;
        if (inputs.Length != n) throw new ArgumentException($"inputs has {inputs.Length} elements; a batch is {Batch} × {T} = {n}.", nameof(inputs));
        if (targets.Length != n) throw new ArgumentException($"targets has {targets.Length} elements; a batch is {Batch} × {T} = {n}.", nameof(targets));
        var tokens = _tokens.Span;
        int real = 0;
        for (int b = 0; b < Batch; b++)
        {
            long w = (long)index * Batch + b;
            var x = inputs.Slice(b * T, T);
            var y = targets.Slice(b * T, T);
            int length = w < Windows ? (int)Math.Min(T, tokens.Length - 1 - w * T) : 0;
            if (length > 0)
            {
                int s = (int)(w * T);
                tokens.Slice(s, length).CopyTo(x);
                tokens.Slice(s + 1, length).CopyTo(y);
            }
            x[length..].Clear();
            y[length..].Fill(TextDataset.IgnoreIndex);
            real += length;
        }
        return real;
    }
}
