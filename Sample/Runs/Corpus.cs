using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Sample.Runs;

/// <summary>The training text: the bundled tinyshakespeare (copied next to the executable) or a user's file, tokenised.</summary>
internal static class Corpus
{
    /// <summary>Where the build copies data/tinyshakespeare.txt (see the Sample's csproj).</summary>
    public static string BundledPath => Path.Combine(AppContext.BaseDirectory, "data", "tinyshakespeare.txt");

    public static ITokenizer Tokenizer(string name) => name switch
    {
        "byte" => ByteTokenizer.Instance,
        "qwen3" => Qwen3Tokenizer.Bundled,
        _ => throw new ArgumentException($"Unknown tokenizer '{name}' (byte or qwen3)."),
    };

    /// <summary>
    /// Reads and tokenises <paramref name="path"/> (null: the bundled corpus): a text split 90 / 10 as nanoGPT, or JSON
    /// lines of conversations (<see cref="ChatData"/>) split 90 / 10 by conversation, keeping those with an assistant
    /// token within the first <paramref name="context"/> + 1 ids.
    /// </summary>
    public static TrainingData Load(string? path, ITokenizer tokenizer, int context)
    {
        string file = path ?? BundledPath;
        if (!File.Exists(file))
            throw new FileNotFoundException(path is null
                ? $"The bundled corpus is missing: expected {file} (the build copies data/tinyshakespeare.txt there)."
                : $"--data: file '{file}' does not exist.", file);
        if (path is not null) RegularFiles.CheckRegular(file, "--data");      // a FIFO would block the read forever
        if (path is not null && ChatData.IsJsonLines(file))
        {
            if (tokenizer is not Qwen3Tokenizer qwen3)
                throw new ArgumentException($"--data '{file}' holds chat conversations: they need the Qwen3 tokenizer and its chat template (--tokenizer qwen3, or --init-from a Qwen3-tokenizer model).");
            var all = ChatData.Load(file, qwen3);
            var kept = all.Where(e => ConversationSampler.HasTargetWithin(e, context)).ToList();
            var conversations = new ConversationDataset(kept);
            string description = $"{all.Count:N0} conversations ({conversations.Train.Count:N0} train, {conversations.Validation.Count:N0} validation; " +
                                 $"{conversations.TrainTargets:N0} / {conversations.ValidationTargets:N0} assistant tokens; longest {conversations.LongestExample:N0} ids, " +
                                 $"{conversations.CutAt(context):N0} cut at the context" + (kept.Count < all.Count ? $", {all.Count - kept.Count} dropped: no assistant token within it)" : ")");
            return new TrainingData(null, conversations, description);
        }
        var text = tokenizer is ByteTokenizer ? TextDataset.FromBytes(File.ReadAllBytes(file)) : new TextDataset(tokenizer.Encode(File.ReadAllText(file)));
        return new TrainingData(text, null, $"{text.Train.Length:N0} train, {text.Validation.Length:N0} validation");
    }
}

/// <summary>A run's data: a text (windows, every token a target) or conversations (one per row, assistant tokens only).</summary>
internal sealed record TrainingData(TextDataset? Text, ConversationDataset? Conversations, string Description);
