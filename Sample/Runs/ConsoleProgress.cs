using Qwen3Gen.Training;
using Spectre.Console;

namespace Qwen3Gen.Sample.Runs;

/// <summary>Progress for a terminal: one live Spectre.Console bar (step, loss, tokens/s, ETA); evaluations print above it.</summary>
internal sealed class LiveProgress(ProgressContext context) : ITrainingProgress
{
    private ProgressTask? _task;

    public void Info(string text) => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(text)}[/]");

    public void Begin(long firstStep, long totalSteps)
    {
        _task = context.AddTask("training", maxValue: totalSteps);
        _task.Value = firstStep;
    }

    public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime)
    {
        if (_task is null) return;
        _task.Value = step.Step;
        _task.Description = $"step {step.Step}/{(long)_task.MaxValue}  loss {step.Loss:F4}  {tokensPerSecond:N0} tok/s" +
                            (step.CommunicationMilliseconds > 0 ? $"  comm {step.CommunicationMilliseconds:F1} ms" : "");
    }

    public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample)
    {
        AnsiConsole.MarkupLine($"[bold]step {step}[/]: validation loss [green]{validationLoss:F4}[/] [grey]({evaluationTime.TotalSeconds:F1} s)[/]");
        if (sample.Length > 0) AnsiConsole.WriteLine(Indent(sample));
    }

    public void Saved(long step, string folder) => AnsiConsole.MarkupLine($"[grey]step {step}: saved {Markup.Escape(folder)}[/]");

    /// <summary>The sample, indented, with control characters (an early model emits any byte, ESC included) shown as U+FFFD.</summary>
    internal static string Indent(string sample)
    {
        var text = new System.Text.StringBuilder("  | ", sample.Length + 32);
        foreach (char c in sample)
        {
            if (c == '\n') text.Append("\n  | ");
            else text.Append(char.IsControl(c) && c != '\t' ? '\uFFFD' : c);
        }
        return text.ToString();
    }
}

/// <summary>Progress for pipes and CI logs: a plain line every LogInterval steps, and the evaluations.</summary>
internal sealed class PlainProgress(TextWriter output, int logInterval) : ITrainingProgress
{
    private long _first, _total;

    public void Info(string text) => output.WriteLine(text);

    public void Begin(long firstStep, long totalSteps)
    {
        _first = firstStep;
        _total = totalSteps;
        output.WriteLine($"training steps {firstStep + 1}..{totalSteps}");
    }

    public void Step(StepResult step, double tokensPerSecond, TimeSpan trainingTime)
    {
        if (step.Step % logInterval != 0 && step.Step != _total) return;
        double msPerStep = trainingTime.TotalMilliseconds / Math.Max(1, step.Step - _first);   // mean over this session
        var eta = TimeSpan.FromMilliseconds(msPerStep * (_total - step.Step));
        string comm = step.CommunicationMilliseconds > 0 ? $" | comm {step.CommunicationMilliseconds:F1} ms" : "";   // this step's wait on other ranks
        output.WriteLine($"step {step.Step}/{_total} | loss {step.Loss:F4} | lr {step.LearningRate:E2} | {msPerStep:F1} ms | {tokensPerSecond:N0} tok/s{comm} | ETA {eta:hh\\:mm\\:ss}");
    }

    public void Evaluated(long step, float validationLoss, TimeSpan evaluationTime, string sample)
    {
        output.WriteLine($"step {step}: validation loss {validationLoss:F4} ({evaluationTime.TotalSeconds:F1} s)");
        if (sample.Length > 0) output.WriteLine(LiveProgress.Indent(sample));
    }

    public void Saved(long step, string folder) => output.WriteLine($"step {step}: saved {folder}");
}
