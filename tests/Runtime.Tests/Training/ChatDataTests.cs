using Qwen3Gen.Tokenization;
using Qwen3Gen.Training;

namespace Qwen3Gen.Runtime.Tests.Training;

/// <summary>Chat SFT data: the Qwen3 template's assistant turns are the only trained ids (TRL's assistant_only_loss).</summary>
public sealed class ChatDataTests
{
    private static readonly Qwen3Tokenizer Tokenizer = Qwen3Tokenizer.Bundled;

    /// <summary>The trained ids, as the texts of their maximal runs.</summary>
    private static List<string> TrainedRuns(TrainingExample e)
    {
        var runs = new List<string>();
        for (int i = 0; i < e.Ids.Length;)
        {
            if (!e.Trained[i]) { i++; continue; }
            int j = i;
            while (j < e.Ids.Length && e.Trained[j]) j++;
            runs.Add(Tokenizer.Decode(e.Ids.AsSpan(i, j - i)));
            i = j;
        }
        return runs;
    }

    [Fact]
    public void OnlyTheAssistantsTurns_UpToTheirImEnd_AreTrained()
    {
        ChatMessage[] messages =
        [
            ChatMessage.System("You are terse."), ChatMessage.User("Name a colour."), ChatMessage.Assistant("Blue."),
            ChatMessage.User("Another?"), ChatMessage.Assistant("Green, like grass."),
        ];
        var e = ChatData.Encode(Tokenizer, messages);
        Assert.Equal(ChatTemplate.Encode(Tokenizer, messages), e.Ids);   // the same ids as the template renders and tokenises
        // Qwen3's template keeps the last turn's (empty) think block; earlier turns lose theirs.
        Assert.Equal(["Blue.<|im_end|>", "<think>\n\n</think>\n\nGreen, like grass.<|im_end|>"], TrainedRuns(e));
        Assert.False(e.Trained[0]);
    }

    [Fact]
    public void FillRow_ShiftsTheLabels_MasksTheRest_AndPadsOrCuts()
    {
        var e = new TrainingExample([10, 11, 12, 13, 14], [false, false, true, true, false]);
        int[] inputs = new int[7], targets = new int[7];
        Assert.Equal(2, e.FillRow(inputs, targets));
        Assert.Equal([10, 11, 12, 13, 14, 0, 0], inputs);
        Assert.Equal([-100, 12, 13, -100, -100, -100, -100], targets);   // position t predicts id t+1 where it is trained

        int[] shortIn = new int[2], shortTargets = new int[2];         // context 2: ids [0, 3) are used
        Assert.Equal(1, e.FillRow(shortIn, shortTargets));
        Assert.Equal([10, 11], shortIn);
        Assert.Equal([-100, 12], shortTargets);
        Assert.False(ConversationSampler.HasTargetWithin(e, 1));
        Assert.True(ConversationSampler.HasTargetWithin(e, 2));
    }

    [Fact]
    public void Load_ReadsJsonLines_AndNamesTheLineOfABadOne()
    {
        string path = Path.Combine(Path.GetTempPath(), $"qwen3gen-chat-{Guid.NewGuid():N}.jsonl");
        try
        {
            File.WriteAllText(path, """
                {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}

                {"messages": [{"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Goodbye."}]}
                """);
            Assert.True(ChatData.IsJsonLines(path));
            var examples = ChatData.Load(path, Tokenizer);
            Assert.Equal(2, examples.Count);
            Assert.Equal(["<think>\n\n</think>\n\nGoodbye.<|im_end|>"], TrainedRuns(examples[1]));

            File.WriteAllText(path, "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Yo\"}]}\n{\"messages\": [{\"role\": \"user\", \"content\": \"only a question\"}]}\n");
            var none = Assert.Throws<InvalidDataException>(() => ChatData.Load(path, Tokenizer));
            Assert.Contains("line 2", none.Message);
            Assert.Contains("no assistant message", none.Message);
            File.WriteAllText(path, "{\"messages\": 3}\n");
            Assert.Contains("line 1", Assert.Throws<InvalidDataException>(() => ChatData.Load(path, Tokenizer)).Message);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ConversationDataset_SplitsByConversation_AndTheSamplerResumesFromItsState()
    {
        var examples = Enumerable.Range(0, 10).Select(i => new TrainingExample([i, 100 + i, 200 + i], [false, true, true])).ToList();
        var data = new ConversationDataset(examples);
        Assert.Equal(9, data.Train.Count);
        Assert.Single(data.Validation);
        Assert.Equal(18, data.TrainTargets);

        var a = new ConversationSampler(data.Train, batch: 2, context: 4, seed: 5);
        int[] inA = new int[8], tA = new int[8], inB = new int[8], tB = new int[8];
        a.Next(inA, tA);
        var b = new ConversationSampler(data.Train, batch: 2, context: 4, seed: 99) { State = a.State };
        a.Next(inA, tA);
        b.Next(inB, tB);
        Assert.Equal(inA, inB);
        Assert.Equal(tA, tB);
    }
}
