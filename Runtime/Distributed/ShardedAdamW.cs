using Qwen3Gen.Optim;
using Qwen3Gen.Models;

namespace Qwen3Gen.Distributed;

/// <summary>
/// ZeRO-1 (optimizer-state sharding): the flat parameter buffer is cut into Size consecutive slices; rank r keeps the
/// AdamW moments of slice r only (2 × parameters / Size floats instead of 2 × parameters), updates that slice from the
/// already all-reduced gradients, and the updated slices are then all-gathered so every rank holds all parameters.
/// AdamW is element-wise and every SIMD path does the same IEEE operations, so the parameters are bit-identical to
/// those of the unsharded optimizer (tested). Gradients stay fully all-reduced (not reduce-scattered, as ZeRO-2 would):
/// the global norm for clipping is then computed exactly as in one process.
/// </summary>
public sealed unsafe class ShardedAdamW : IDisposable
{
    private readonly ICommunicator _comm;
    private readonly long[] _counts;

    public ShardedAdamW(ICommunicator comm, IReadOnlyList<TensorSpec> tensors, AdamWOptions options)
    {
        _comm = comm;
        long total = tensors.Max(t => t.Offset + t.Length);
        int size = comm.Size;
        _counts = new long[size];
        for (int r = 0; r < size; r++) _counts[r] = Bound(total, r + 1, size) - Bound(total, r, size);
        Start = Bound(total, comm.Rank, size);
        End = Bound(total, comm.Rank + 1, size);
        Total = total;

        // This rank's pieces of the tensors, with offsets relative to Start; weight decay as the whole tensor's.
        var decays = new HashSet<string>(tensors.Where(options.Decay).Select(t => t.Name));
        var pieces = new List<TensorSpec>();
        foreach (var t in tensors)
        {
            long lo = Math.Max(t.Offset, Start), hi = Math.Min(t.Offset + t.Length, End);
            if (hi > lo) pieces.Add(new TensorSpec(t.Name, [checked((int)(hi - lo))], lo - Start));
        }
        if (pieces.Count == 0) pieces.Add(new TensorSpec("(empty shard)", [0], 0));
        Shard = new AdamW(pieces, options with { Decay = piece => decays.Contains(piece.Name) });
    }

    /// <summary>First element of this rank's slice.</summary>
    public long Start { get; }

    /// <summary>End (exclusive) of this rank's slice.</summary>
    public long End { get; }

    /// <summary>Elements of the whole flat buffer.</summary>
    public long Total { get; }

    /// <summary>The AdamW of this rank's slice (its M, V and StepCount).</summary>
    public AdamW Shard { get; }

    /// <summary>Slice lengths of every rank.</summary>
    public ReadOnlySpan<long> Counts => _counts;

    public double LearningRate { get => Shard.LearningRate; set => Shard.LearningRate = value; }

    public long StepCount { get => Shard.StepCount; set => Shard.StepCount = value; }

    /// <summary>Updates this rank's slice of <paramref name="parameters"/>, then gathers every rank's slice; returns the time the gather took.</summary>
    public TimeSpan Step(float* parameters, float* gradients)
    {
        Shard.Step(parameters + Start, gradients + Start);
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        _comm.AllGather(parameters, _counts);
        return System.Diagnostics.Stopwatch.GetElapsedTime(start);
    }

    /// <summary>Copies this rank's slice of full-layout moments into the shard (resume).</summary>
    public void LoadFrom(AdamW full)
    {
        long n = End - Start;
        Buffer.MemoryCopy(full.M.Pointer + Start, Shard.M.Pointer, n * 4, n * 4);
        Buffer.MemoryCopy(full.V.Pointer + Start, Shard.V.Pointer, n * 4, n * 4);
        Shard.StepCount = full.StepCount;
    }

    /// <summary>Gathers every rank's moments into <paramref name="full"/> on rank <paramref name="root"/> (other ranks pass null).</summary>
    public void GatherTo(AdamW? full, int root)
    {
        float* m = full is null ? Shard.M.Pointer - Start : full.M.Pointer;     // non-roots: their block lies at its place in the layout
        float* v = full is null ? Shard.V.Pointer - Start : full.V.Pointer;
        if (full is not null) Buffer.MemoryCopy(Shard.M.Pointer, m + Start, (End - Start) * 4, (End - Start) * 4);
        if (full is not null) Buffer.MemoryCopy(Shard.V.Pointer, v + Start, (End - Start) * 4, (End - Start) * 4);
        _comm.Gather(m, _counts, root);
        _comm.Gather(v, _counts, root);
        if (full is not null) full.StepCount = Shard.StepCount;
    }

    public void Dispose() => Shard.Dispose();

    private static long Bound(long total, int rank, int size) => total * rank / size;
}
