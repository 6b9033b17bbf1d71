using Qwen3Gen.Distributed;

namespace Qwen3Gen.TensorParallel;

/// <summary>
/// Tensor × data parallelism over one job of tp · dp ranks (Megatron's layout, tensor-parallel ranks adjacent): rank r is
/// rank r % tp of tensor-parallel group r / tp, which holds one whole model split tp ways and trains on its own part of
/// the batch; and rank r / tp of data-parallel group r % tp, the dp ranks that hold the same slice, whose gradients are
/// summed. With mpirun's default placement (consecutive ranks on the same machine), the per-layer all-reduces of a
/// tensor-parallel group stay within a machine and only the once-per-step gradient sums cross machines.
/// <code>
///   4 ranks, tp = 2:   tensor groups {0, 1} {2, 3}     data groups {0, 2} {1, 3}
/// </code>
/// </summary>
public sealed class ParallelGroups : IDisposable
{
    private ParallelGroups(ICommunicator tensor, ICommunicator data)
    {
        Tensor = tensor;
        Data = data;
    }

    /// <summary>The ranks of this rank's model: same rank / tp.</summary>
    public ICommunicator Tensor { get; }

    /// <summary>The ranks holding the same slice as this rank: same rank % tp.</summary>
    public ICommunicator Data { get; }

    /// <summary>Splits <paramref name="world"/> (collective: every rank calls it with the same <paramref name="tensorParallel"/>).</summary>
    public static ParallelGroups Create(ICommunicator world, int tensorParallel)
    {
        if (tensorParallel < 1 || world.Size % tensorParallel != 0)
            throw new ArgumentException($"--tensor-parallel {tensorParallel} must divide the {world.Size} ranks of the job.", nameof(tensorParallel));
        var tensor = world.Split(world.Rank / tensorParallel, world.Rank);
        var data = world.Split(world.Rank % tensorParallel, world.Rank);
        return new ParallelGroups(tensor, data);
    }

    public void Dispose()
    {
        Data.Dispose();
        Tensor.Dispose();
    }
}
