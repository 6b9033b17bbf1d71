using Qwen3Gen.Sampling;

namespace Qwen3Gen.Training;

/// <summary>
/// Random training windows, nanoGPT's get_batch: for each of B rows a start i uniform in
/// [0, n − T), inputs = tokens[i, i+T), targets = tokens[i+1, i+T+1) (the inputs shifted by one).
/// Draws come from a seeded <see cref="Rng"/> (B draws per batch); its <see cref="State"/> is the sampler's
/// whole state, so saving it and restoring it continues the exact same batch sequence.
/// </summary>
public sealed class WindowSampler : IBatchSampler
{
    private readonly ReadOnlyMemory<int> _tokens;
    private readonly Rng _rng;

    /// <param name="tokens">The split to sample (usually <see cref="TextDataset.Train"/>); needs more than <paramref name="context"/> tokens.</param>
    public WindowSampler(ReadOnlyMemory<int> tokens, int batch, int context, ulong seed)
    {
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "Batch must be at least 1.");
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), context, "Context must be at least 1.");
        if (tokens.Length <= context)
            throw new ArgumentException($"The split has {tokens.Length} tokens; windows of context {context} need at least {context + 1}.", nameof(tokens));
        if ((long)batch * context > int.MaxValue) throw new ArgumentException($"Batch × context ({(long)batch * context}) is too large.");
        _tokens = tokens;
        Batch = batch;
        Context = context;
        _rng = new Rng(seed);
    }

    public int Batch { get; }

    public int Context { get; }

    /// <summary>Elements of one inputs (or targets) batch: Batch × Context.</summary>
    public int BatchElements => Batch * Context;

    /// <summary>The random generator's state: read it into a checkpoint, set it to resume.</summary>
    public RngState State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    /// <summary>Draws <paramref name="batches"/> batches without reading them (another rank's share of a data-parallel step).</summary>
    public void Skip(int batches)
    {
        int n = _tokens.Length - Context;
        for (long i = (long)batches * Batch; i > 0; i--) _rng.NextInt(n);
    }

    /// <summary>Fills the next batch: <paramref name="inputs"/> and <paramref name="targets"/> are [Batch, Context] row-major.</summary>
    public void Next(Span<int> inputs, Span<int> targets)
    {
        if (inputs.Length != BatchElements) throw new ArgumentException($"inputs has {inputs.Length} elements; a batch is {Batch} × {Context} = {BatchElements}.", nameof(inputs));
        if (targets.Length != BatchElements) throw new ArgumentException($"targets has {targets.Length} elements; a batch is {Batch} × {Context} = {BatchElements}.", nameof(targets));
        var tokens = _tokens.Span;
        int T = Context;
        for (int b = 0; b < Batch; b++)
        {
            int i = _rng.NextInt(tokens.Length - T); // torch.randint(len(data) - block_size)
            tokens.Slice(i, T).CopyTo(inputs.Slice(b * T, T));
            tokens.Slice(i + 1, T).CopyTo(targets.Slice(b * T, T));
        }
    }
}
