using Qwen3Gen.Models;

namespace Qwen3Gen.Training;

/// <summary>
/// One tokenised training example (a chat conversation): its ids, and for each id whether the loss is taken on
/// predicting it (<paramref name="Trained"/>: the assistant's tokens; TRL's assistant_masks).
/// </summary>
public sealed record TrainingExample(int[] Ids, bool[] Trained)
{
    /// <summary>Ids whose prediction is trained.</summary>
    public int TrainedCount => Trained.Count(t => t);

    /// <summary>
    /// Writes the example into one row of <paramref name="inputs"/> / <paramref name="targets"/> (length T = context),
    /// right-padded: inputs = ids[0, L) then 0, targets[t] = ids[t+1] where ids[t+1] is trained, else −100 (labels −100
    /// outside the assistant's tokens, shifted as Hugging Face's causal-LM loss shifts them). An example longer than
    /// T + 1 ids is cut to its first T + 1. Under causal attention a real position never sees the padding after it, so
    /// padding changes no real position's logits. Returns the number of trained targets in the row.
    /// </summary>
    public int FillRow(Span<int> inputs, Span<int> targets)
    {
        if (inputs.Length != targets.Length) throw new ArgumentException("inputs and targets must have the same length.");
        int T = inputs.Length, length = Math.Min(Ids.Length, T + 1), count = 0;
        for (int t = 0; t < T; t++)
        {
            inputs[t] = t < length ? Ids[t] : 0;
            bool scored = t + 1 < length && Trained[t + 1];
            targets[t] = scored ? Ids[t + 1] : CausalLm.IgnoreIndex;
            if (scored) count++;
        }
        return count;
    }
}
