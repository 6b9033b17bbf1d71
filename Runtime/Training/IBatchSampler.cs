using Qwen3Gen.Sampling;

namespace Qwen3Gen.Training;

/// <summary>
/// Where a <see cref="Trainer"/> gets its training batches: random text windows (<see cref="WindowSampler"/>) or whole
/// conversations (<see cref="ConversationSampler"/>). The random generator's <see cref="State"/> is the sampler's whole
/// state, so a checkpoint that stores it continues the exact same batch sequence.
/// </summary>
public interface IBatchSampler
{
    RngState State { get; set; }

    /// <summary>Fills the next [batch, context] inputs and targets (target −100 = no loss at that position).</summary>
    void Next(Span<int> inputs, Span<int> targets);

    /// <summary>Draws <paramref name="batches"/> batches without reading them (another rank's share of a data-parallel step).</summary>
    void Skip(int batches);
}
