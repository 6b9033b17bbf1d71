using Qwen3Gen.Sampling;
using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// Random training rows from a list of examples: each of the B rows is an example drawn uniformly (with replacement, as
/// <see cref="WindowSampler"/> draws windows) and written with <see cref="TrainingExample.FillRow"/>. The generator's
/// <see cref="State"/> is the whole state, so a resumed run draws the same rows.
/// </summary>
public sealed class ConversationSampler : IBatchSampler
{
    private readonly IReadOnlyList<TrainingExample> _examples;
    private readonly Rng _rng;

    public ConversationSampler(IReadOnlyList<TrainingExample> examples, int batch, int context, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (examples.Count == 0) throw new ArgumentException("No examples to sample.", nameof(examples));
        if (batch < 1) throw new ArgumentOutOfRangeException(nameof(batch), batch, "Batch must be at least 1.");
        if (context < 1) throw new ArgumentOutOfRangeException(nameof(context), context, "Context must be at least 1.");
        for (int i = 0; i < examples.Count; i++)
            if (!HasTargetWithin(examples[i], context))
                throw new ArgumentException($"Example {i} has no assistant token within the first {context + 1} ids: it would add no loss (drop it or raise the context).", nameof(examples));
        _examples = examples;
        Batch = batch;
        Context = context;
        _rng = new Rng(seed);
    }

    public int Batch { get; }

    public int Context { get; }

    public RngState State
    {
        get => _rng.State;
        set => _rng.State = value;
    }

    public void Skip(int batches)
    {
        for (long i = (long)batches * Batch; i > 0; i--) _rng.NextInt(_examples.Count);
    }

    public void Next(Span<int> inputs, Span<int> targets)
    {
        int T = Context;
        if (inputs.Length != Batch * T || targets.Length != Batch * T)
            throw new ArgumentException($"inputs and targets must hold {Batch} × {T} ids.");
        for (int b = 0; b < Batch; b++)
            _examples[_rng.NextInt(_examples.Count)].FillRow(inputs.Slice(b * T, T), targets.Slice(b * T, T));
    }

    /// <summary>True when a row of <paramref name="context"/> positions holds at least one trained target of <paramref name="example"/>.</summary>
    public static bool HasTargetWithin(TrainingExample example, int context)
    {
        int last = Math.Min(example.Ids.Length - 1, context);
        for (int t = 1; t <= last; t++)
            if (example.Trained[t]) return true;
        return false;
    }

    /// <summary>
    /// Fills batch <paramref name="index"/> of <paramref name="examples"/> taken in order, B per batch (missing rows: no
    /// targets); returns the trained targets in it. Used to score a whole split once.
    /// </summary>
    public static int FillInOrder(IReadOnlyList<TrainingExample> examples, int index, int batch, Span<int> inputs, Span<int> targets)
    {
        int T = inputs.Length / batch, count = 0;
        for (int b = 0; b < batch; b++)
        {
            int e = index * batch + b;
            var rowInputs = inputs.Slice(b * T, T);
            var rowTargets = targets.Slice(b * T, T);
            if (e < examples.Count) count += examples[e].FillRow(rowInputs, rowTargets);
            else
            {
                rowInputs.Clear();
                rowTargets.Fill(CausalLm.IgnoreIndex);
            }
        }
        return count;
    }
}
