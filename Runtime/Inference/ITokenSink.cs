namespace Qwen3Gen.Inference;

/// <summary>
/// Takes the generated ids of a <see cref="TextGeneration"/> run in place of its own decoder, for callers that turn ids into
/// text their own way (a chat's thinking / answer separation: <see cref="ChatTextStream"/>). Stop ids never reach it.
/// </summary>
public interface ITokenSink
{
    /// <summary>One sampled id (not a stop id). False: the text is complete (a stop string); the run ends with <see cref="StopReason.StopString"/>.</summary>
    bool Push(int id);

    /// <summary>The run ended for another reason than a false <see cref="Push"/>: hand out whatever is held back.</summary>
    void Finish();
}
