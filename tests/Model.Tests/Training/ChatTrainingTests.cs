using Qwen3Gen.Training;
using Qwen3Gen.Models;

namespace Qwen3Gen.Model.Tests;

/// <summary>
/// Chat SFT rows (padding, one conversation per row): attention stays inside each example, the loss is the mean
/// cross-entropy over the assistant's targets only, and a conversation run resumes bit-identically.
/// </summary>
public class ChatTrainingTests
{
    private static readonly TrainingExample Short = new([5, 6, 7, 8, 9], [false, false, true, true, false]);
    private static readonly TrainingExample Long = new([20, 21, 22, 23, 24, 25, 26, 27, 28], [false, false, false, true, true, true, false, true, true]);

    [Fact]
    public void PaddedRows_GiveEachExampleTheLogitsItHasAlone()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 3);
        const int T = 12, V = 256;
        int[] inputs = new int[2 * T], targets = new int[2 * T];
        Short.FillRow(inputs.AsSpan(0, T), targets.AsSpan(0, T));
        Long.FillRow(inputs.AsSpan(T, T), targets.AsSpan(T, T));
        model.Forward(inputs, [], 2, T);
        float[] batched = model.Logits.ToArray();
        foreach (var (example, row) in new[] { (Short, 0), (Long, 1) })
        {
            int n = example.Ids.Length;
            model.Forward(example.Ids, [], 1, n);
            float[] alone = model.Logits.ToArray();
            for (int i = 0; i < n * V; i++)
                Assert.True(Math.Abs(alone[i] - batched[row * T * V + i]) <= 1e-5f * (1 + Math.Abs(alone[i])),
                            $"row {row}, position {i / V}: {batched[row * T * V + i]} padded vs {alone[i]} alone");
        }
    }

    [Fact]
    public void Loss_IsTheMeanCrossEntropy_OverTheAssistantTargetsOnly()
    {
        using var model = TrainTiny.Create();
        TestWeights.Randomize(model, 4);
        const int T = 12, V = 256;
        int[] inputs = new int[2 * T], targets = new int[2 * T];
        int count = Short.FillRow(inputs.AsSpan(0, T), targets.AsSpan(0, T)) + Long.FillRow(inputs.AsSpan(T, T), targets.AsSpan(T, T));
        Assert.Equal(2 + 5, count);
        float loss = model.Forward(inputs, targets, 2, T);
        float[] logits = model.Logits.ToArray();

        // By hand, in double: −log softmax(logits[row, t])[id[t+1]] summed where id[t+1] is an assistant id, divided by their count.
        double sum = 0;
        int n = 0;
        foreach (var (example, row) in new[] { (Short, 0), (Long, 1) })
            for (int t = 0; t + 1 < example.Ids.Length && t < T; t++)
            {
                if (!example.Trained[t + 1]) continue;
                var z = logits.AsSpan((row * T + t) * V, V);
                double max = double.NegativeInfinity, s = 0;
                foreach (float v in z) max = Math.Max(max, v);
                foreach (float v in z) s += Math.Exp(v - max);
                sum += max + Math.Log(s) - z[example.Ids[t + 1]];
                n++;
            }
        Assert.Equal(count, n);
        Assert.Equal(sum / n, loss, 1e-5);
    }

    [Fact]
    public void ConversationRun_ResumesBitIdentically()
    {
        var examples = Enumerable.Range(0, 12).Select(i => new TrainingExample(
            Enumerable.Range(0, 6 + i % 5).Select(k => (i * 7 + k * 13) % 256).ToArray(),
            Enumerable.Range(0, 6 + i % 5).Select(k => k >= 3).ToArray())).ToList();
        var data = new ConversationDataset(examples);
        var options = new TrainingOptions { Steps = 4, Batch = 3, Context = 8, WarmupSteps = 1, LearningRate = 3e-3, Seed = 9 };
        using var straight = TrainTiny.Create();
        TestWeights.Randomize(straight, 5);
        using (var trainer = new Trainer(straight, data, options))
            for (int i = 0; i < 4; i++) trainer.TrainStep();

        string dir = Path.Combine(Path.GetTempPath(), "qwen3gen-chat-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            using (var first = TrainTiny.Create())
            {
                TestWeights.Randomize(first, 5);
                using var trainer = new Trainer(first, data, options);
                for (int i = 0; i < 2; i++) trainer.TrainStep();
                trainer.Save(dir);
            }
            using var resumed = TrainTiny.Create();
            using (var trainer = new Trainer(resumed, data, options))
            {
                trainer.Load(dir);
                for (int i = 0; i < 2; i++) trainer.TrainStep();
                Assert.True(float.IsFinite(trainer.EvaluateValidation()));
            }
            Assert.Equal(straight.Weights.Data.Slice(0, (int)straight.Weights.Count).ToArray(), resumed.Weights.Data.Slice(0, (int)resumed.Weights.Count).ToArray());
        }
        finally { if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true); }
    }
}
