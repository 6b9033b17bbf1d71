using System.Runtime.InteropServices;
using Qwen3Gen.Distributed;
using Qwen3Gen.Kernels;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Gathers whole tensors from the slices of a tensor-parallel group to its rank 0, one tensor at a time, in an order
/// fixed in advance: the order in which rank 0's checkpoint writer asks for them. Rank 0 calls <see cref="Write"/> from
/// the writer's callbacks; then every rank calls <see cref="Finish"/>, which makes the gathers not made yet (all of them
/// on the other ranks; none on rank 0, or those a failed write left out), so no rank is left waiting in a gather. One
/// whole tensor is held at a time (and one more for a column-split one's reordering), never the whole model.
/// <code>
///   rows (q/k/v, gate/up, embedding, LM head):  the ranks' blocks in rank order are the tensor's rows in order
///   columns (o_proj, down_proj):                rank r's block is [rows, count_r]; row i = the ranks' rows i side by side
///   replicated (norms):                          every rank holds the same values; rank 0's are the tensor (no message)
/// </code>
/// </summary>
public sealed unsafe class SliceGatherer
{
    private readonly ICommunicator _group;
    private readonly TensorSplit[] _splits;                       // every rank's split: the sizes of its blocks
    private readonly IReadOnlyList<(string Name, NativeBuffer<float> Source)> _order;
    private readonly float[] _gathered, _reordered;
    private int _next;

    /// <param name="group">The tensor-parallel group (Size = split.Ways).</param>
    /// <param name="order">The tensors in the order they will be written, each with the buffer in the rank's flat layout
    /// (<see cref="TensorSplit"/>) that holds its slice: the weights, or AdamW's m or v.</param>
    public SliceGatherer(ICommunicator group, TensorSplit split, IReadOnlyList<(string Name, NativeBuffer<float> Source)> order)
    {
        if (group.Size != split.Ways || group.Rank != split.Rank)
            throw new ArgumentException($"Rank {group.Rank} of a group of {group.Size} holds split {split.Rank} of {split.Ways}.", nameof(split));
        _group = group;
        _splits = Enumerable.Range(0, split.Ways).Select(r => r == split.Rank ? split : new TensorSplit(split.Config, split.Ways, r)).ToArray();
        _order = order;
        var tensors = order.Select(o => split[o.Name]).ToList();
        _gathered = new float[tensors.Select(t => Elements(t.FullShape)).DefaultIfEmpty(0).Max()];
        _reordered = new float[tensors.Where(t => t.Kind == SplitKind.Columns).Select(t => Elements(t.FullShape)).DefaultIfEmpty(0).Max()];
    }

    /// <summary>Rank 0: gathers the next tensor of the order, which must be <paramref name="name"/>, and writes it to <paramref name="stream"/> (F32, row-major).</summary>
    public void Write(string name, Stream stream)
    {
        if (_group.Rank != 0) throw new InvalidOperationException("Only rank 0 of the group receives whole tensors.");
        string expected = _next < _order.Count ? _order[_next].Name : "nothing";
        if (expected != name) throw new InvalidOperationException($"The checkpoint writer asks for '{name}', but the ranks gather '{expected}' next.");
        stream.Write(MemoryMarshal.AsBytes(GatherNext()));
    }

    /// <summary>Makes the gathers of the order not made yet (every rank calls it once the writing is over or failed).</summary>
    public void Finish()
    {
        while (_next < _order.Count) GatherNext();
    }

    /// <summary>The next tensor of the order, whole on rank 0 (the other ranks get their own block's place only).</summary>
    private ReadOnlySpan<float> GatherNext()
    {
        var (name, source) = _order[_next++];
        var t = _splits[_group.Rank][name];
        var whole = _gathered.AsSpan(0, Elements(t.FullShape));
        var local = new ReadOnlySpan<float>(source.Pointer + t.Local.Offset, checked((int)t.Local.Length));
        if (t.Kind == SplitKind.Replicated)
        {
            local.CopyTo(whole);
            return whole;
        }
        if (t.Kind != SplitKind.Rows && t.Kind != SplitKind.Columns)
            throw new NotSupportedException($"'{name}' is held whole by one rank ({t.Kind}); checkpoints of expert-parallel models are not written.");
        Span<long> counts = stackalloc long[_splits.Length];
        long offset = 0;
        for (int r = 0; r < counts.Length; r++)
        {
            counts[r] = _splits[r][name].Local.Length;
            if (r < _group.Rank) offset += counts[r];
        }
        local.CopyTo(whole.Slice(checked((int)offset)));
        fixed (float* p = _gathered) _group.Gather(p, counts, root: 0);
        if (_group.Rank != 0 || t.Kind == SplitKind.Rows) return whole;

        var result = _reordered.AsSpan(0, whole.Length);
        int rows = t.FullShape[0], cols = t.FullShape[1];
        long block = 0;
        foreach (var split in _splits)
        {
            var part = split[name];
            for (int i = 0; i < rows; i++)
                whole.Slice(checked((int)(block + (long)i * part.Count)), part.Count).CopyTo(result.Slice(i * cols + part.Start, part.Count));
            block += part.Local.Length;
        }
        return result;
    }

    private static int Elements(int[] shape) => checked(shape.Aggregate(1, (n, d) => n * d));
}
