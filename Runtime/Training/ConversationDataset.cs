namespace Qwen3Gen.Training;

/// <summary>
/// Chat examples split as the text data is: the first ⌊0.9·n⌋ conversations train, the rest validate (at least one each).
/// Each batch row holds one conversation, right-padded to the context (padding, not packing: see docs/training.md;
/// attention stays inside each example because nothing else shares its row).
/// </summary>
public sealed class ConversationDataset
{
    public ConversationDataset(IReadOnlyList<TrainingExample> examples, double trainFraction = 0.9)
    {
        ArgumentNullException.ThrowIfNull(examples);
        if (!(trainFraction > 0 && trainFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(trainFraction), trainFraction, "The train fraction must be in (0, 1).");
        if (examples.Count < 2)
            throw new ArgumentException($"{examples.Count} conversation(s) are too few: training and validation need at least one each.", nameof(examples));
        foreach (var e in examples)
        {
            if (e.Ids.Length != e.Trained.Length) throw new ArgumentException("An example's ids and mask differ in length.", nameof(examples));
            if (e.Ids.Any(id => id < 0)) throw new ArgumentException("An example has a negative id.", nameof(examples));
        }
        int split = Math.Clamp((int)(examples.Count * trainFraction), 1, examples.Count - 1);
        Train = examples.Take(split).ToArray();
        Validation = examples.Skip(split).ToArray();
    }

    public IReadOnlyList<TrainingExample> Train { get; }

    public IReadOnlyList<TrainingExample> Validation { get; }

    /// <summary>Largest id + 1 over every example.</summary>
    public int VocabularyNeeded => Train.Concat(Validation).Max(e => e.Ids.Length == 0 ? 0 : e.Ids.Max() + 1);

    /// <summary>Ids of the longest example.</summary>
    public int LongestExample => Train.Concat(Validation).Max(e => e.Ids.Length);

    /// <summary>Examples that a context of <paramref name="context"/> positions cuts (more than context + 1 ids).</summary>
    public int CutAt(int context) => Train.Concat(Validation).Count(e => e.Ids.Length > context + 1);

    /// <summary>Trained (assistant) ids in the training split.</summary>
    public long TrainTargets => Train.Sum(e => (long)e.TrainedCount);

    /// <summary>Trained ids in the validation split.</summary>
    public long ValidationTargets => Validation.Sum(e => (long)e.TrainedCount);
}
