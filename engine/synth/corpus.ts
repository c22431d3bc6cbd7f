/**
 * The text the synthetic vocabulary is trained on. Original prose written for this project (no third-party text),
 * mixing everyday English, technical words, numbers, code and a little accented text so the learned merges cover
 * what test prompts look like. Changing it changes every generated model's bytes (and the pinned hashes).
 *
 * @module
 */

/** Training corpus for the synthetic byte-level BPE vocabulary. */
export const SYNTH_CORPUS: string = `
The morning train left the station at seven, and the people on board read, talked, or looked out of the window
at the fields. A child asked her father why the sky was blue, and he told her that sunlight is made of many
colors, and that the air scatters the blue light more than the red. She thought about that for a while, then
asked why the sunset was red. He laughed and said that was a question for the evening.

In the small town by the river there is a library with a green door. Every Saturday the library opens at nine
and closes at four. The people who work there know the names of the children who come to borrow books about
animals, stars, machines and the sea. One boy has read every book about trains. One girl wants to be a doctor.
Another wants to build a robot that can cook dinner and clean the kitchen.

Language models read text as a sequence of tokens. A tokenizer splits the text into pieces, and each piece has
a number. The model takes the numbers, looks up a vector for each one, and passes the vectors through many
layers of attention and feed-forward networks. At the end it predicts the next token. When the model is small,
it runs fast on a laptop; when it is large, it needs a lot of memory and a fast processor.

Ternary weights use only three values: minus one, zero and plus one. A matrix of ternary weights can be stored
in two bits per value, or even less, and a matrix-vector product becomes a sum of additions and subtractions.
This makes inference cheaper on a CPU, because memory bandwidth is often the limit. The activations are still
quantized to eight-bit integers, and each block of numbers keeps a scale so the result can be turned back into
floating point.

To check that a new engine is correct, we compare it with a reference. We give both the same prompt, and we
compare the tokens, the logits and the text they generate. If the numbers agree, we can trust the new engine.
If they do not, we look at each layer, one by one, until we find the first place where the results diverge.
Then we fix the bug, run the tests again, and write down what we learned.

Numbers appear everywhere: 1, 2, 3, 10, 42, 100, 256, 1024, 2048, 4096, 65536, 3.14159, 2.71828, 0.5, 1e-5.
The year 2024 followed 2023. The meeting is at 10:30 on Monday, 14 March. The price was $19.99, or 20 euros.
Call 555-0123 between 9am and 5pm. Version 1.2.3 fixed 17 bugs; version 2.0.0 changed the API.

def forward(tokens, pos):
    x = embed(tokens)
    for layer in layers:
        x = x + attention(norm(x), pos)
        x = x + feed_forward(norm(x))
    return logits(norm(x))

function add(a, b) { return a + b; }
const total = items.reduce((sum, item) => sum + item.price * item.count, 0);
if (error) { console.error("failed:", error.message); process.exit(1); }
for (let i = 0; i < n; i++) { out[i] = x[i] * scale; }

Questions are good. What is the capital of France? Paris. How many days are in a week? Seven. Who wrote the
letter? She did. Where are the keys? On the table, next to the lamp. When does the shop open? At eight.
Why is the water cold? Because it comes from the mountains, where the snow melts in spring.

Once upon a time, in a house at the edge of a forest, there lived an old woman and her cat. Every night the cat
went out to hunt, and every morning it came back with a story. The woman did not believe the stories, but she
liked to hear them, so she made tea and listened. The cat talked about owls and foxes, about the moon and the
wind, and about a door in a tree that led to another world.

Café, naïve, résumé, über, jalapeño, façade, coöperate, São Paulo, Zürich, Málaga, crème brûlée.
Hello, world! Good morning. Thank you very much. Please wait here. I'm sure it's fine; we'll see, they've gone.
"Really?" she said. 'Yes,' he answered -- and then, after a pause: "Maybe not."
`;
