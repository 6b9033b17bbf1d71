namespace Qwen3Gen.Kernels;

/// <summary>
/// Hands out zeroed float/int buffers that live as long as the arena: work buffers are allocated once,
/// when a model reserves a batch size, and reused by every call (no allocation per step).
/// A <see cref="Planner"/> arena allocates nothing: it hands out null and only adds up the bytes, so a dry run of
/// the code that fills an arena measures it exactly before any memory is taken (<see cref="WorkBufferLimits"/>).
/// </summary>
public sealed unsafe class Arena : IDisposable
{
    private readonly List<IDisposable> _blocks = [];
    private readonly bool _planOnly;

    public Arena() { }

    private Arena(bool planOnly) => _planOnly = planOnly;

    /// <summary>An arena that allocates nothing and returns null pointers: it only counts <see cref="Bytes"/>.</summary>
    public static Arena Planner() => new(planOnly: true);

    /// <summary>True for a <see cref="Planner"/> arena (its pointers are null: nothing may be written).</summary>
    public bool PlanOnly => _planOnly;

    /// <summary>Bytes allocated (or planned) so far.</summary>
    public long Bytes { get; private set; }

    /// <exception cref="OverflowException">The total passes what a long counts (only a planner can get there).</exception>
    public float* Floats(long count) => (float*)Take<float>(count);

    /// <exception cref="OverflowException">The total passes what a long counts (only a planner can get there).</exception>
    public int* Ints(long count) => (int*)Take<int>(count);

    private void* Take<T>(long count) where T : unmanaged
    {
        if (count < 0) throw new OverflowException($"A work buffer of {count} elements (a size that overflowed).");
        Bytes = checked(Bytes + checked(count * sizeof(T)));
        if (_planOnly) return null;
        var block = new NativeBuffer<T>(count);
        _blocks.Add(block);
        return block.Pointer;
    }

    public void Dispose()
    {
        foreach (var block in _blocks) block.Dispose();
        _blocks.Clear();
    }
}
