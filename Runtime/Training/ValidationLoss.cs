using Qwen3Gen.Distributed;

namespace Qwen3Gen.Training;

/// <summary>
/// The validation loss of a run, whatever computes a batch's loss (one model, or a tensor-parallel group): the mean
/// cross-entropy over every target, token-weighted, Σ (batch loss · batch targets) / Σ targets. With several ranks in
/// <c>ranks</c>, rank r evaluates batches r, r + N, … and the two sums are all-reduced.
/// </summary>
public static class ValidationLoss
{
    /// <summary>A batch's mean loss over its non-ignored targets ([Batch, Context] row-major inputs and targets).</summary>
    public delegate float BatchLoss(int[] inputs, int[] targets);

    /// <summary>Every target of <paramref name="tokens"/>, in consecutive windows (<see cref="SequentialWindows"/>).</summary>
    public static float Text(ReadOnlyMemory<int> tokens, int batch, int context, ICommunicator ranks, BatchLoss loss)
    {
        var windows = new SequentialWindows(tokens, batch, context);
        return Mean(windows.Batches, batch * context, ranks, loss, windows.Fill);
    }

    /// <summary>Every trained (assistant) target of <paramref name="examples"/>, one conversation per batch row; NaN if none.</summary>
    public static float Examples(IReadOnlyList<TrainingExample> examples, int batch, int context, ICommunicator ranks, BatchLoss loss) =>
        Mean((examples.Count + batch - 1) / batch, batch * context, ranks, loss,
             (i, inputs, targets) => ConversationSampler.FillInOrder(examples, i, batch, inputs, targets));

    private delegate int Fill(int index, Span<int> inputs, Span<int> targets);

    private static float Mean(int batches, int elements, ICommunicator ranks, BatchLoss loss, Fill fill)
    {
        int[] inputs = new int[elements], targets = new int[elements];
        Span<double> total = [0, 0];                                              // Σ loss · targets, Σ targets
        for (int i = ranks.Rank; i < batches; i += ranks.Size)
        {
            int real = fill(i, inputs, targets);
            if (real == 0) continue;
            total[0] += (double)loss(inputs, targets) * real;
            total[1] += real;
        }
        ranks.AllReduceSum(total);
        return total[1] > 0 ? (float)(total[0] / total[1]) : float.NaN;
    }
}
