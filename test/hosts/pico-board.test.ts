/* The Pico W host's board settings: mc/config values and the pico_w provider's facts to pins and polarity. */
import { describe, expect, test } from "@jest/globals";
import { ONBOARD_LED, PICO, boardSettings, describeBoard, idFromMac } from "../../hosts/pico/board.js";

/** What the SDK's pico_w host provider says: Analog.default.pin 26, pin.led 32. */
const picoW = { ledPin: 32, analogPin: 26 };

describe("Pico W board settings", () => {
	test("defaults: the sensor on GP26 (ADC0), the on-board LED", () => {
		expect(boardSettings({}, picoW)).toEqual({ sensorPin: 26, ledPin: ONBOARD_LED, ledActiveLow: false, onboardLed: true, onboardLedName: "on-board (Wi-Fi chip GPIO 0)" });
	});

	test("without provider facts the same defaults hold", () => {
		expect(boardSettings({}, { ledPin: undefined, analogPin: undefined })).toMatchObject({ sensorPin: 26, ledPin: 32, onboardLed: true });
	});

	test("the config moves the sensor and puts the LED on a GPIO, active low if wired so", () => {
		expect(boardSettings({ sensor_pin: "28", led_pin: "15", led_active_low: "1" }, picoW))
			.toMatchObject({ sensorPin: 28, ledPin: 15, ledActiveLow: true, onboardLed: false });
		expect(boardSettings({ sensor_pin: 27, led_pin: 26 }, picoW)).toMatchObject({ sensorPin: 27, ledPin: 26 });
	});

	test("only GP26..GP28 can read light", () => {
		expect(() => boardSettings({ sensor_pin: "29" }, picoW)).toThrow(/config "sensor_pin" must be an ADC pin of the Pico W: 26, 27 or 28/);
		expect(() => boardSettings({ sensor_pin: "4" }, picoW)).toThrow(/sensor_pin/);
		expect(() => boardSettings({ sensor_pin: "A0" }, picoW)).toThrow(/sensor_pin/);
	});

	test("the Wi-Fi chip's pins and the sensor's own pin are refused for the LED", () => {
		for (const pin of ["23", "24", "25", "29"])
			expect(() => boardSettings({ led_pin: pin }, picoW)).toThrow(/GP23, GP24, GP25 and GP29 drive the Wi-Fi chip/);
		expect(() => boardSettings({ led_pin: "30" }, picoW)).toThrow(/led_pin/);
		expect(() => boardSettings({ led_pin: "1" }, picoW)).toThrow(/settings console/);
		expect(() => boardSettings({ led_pin: "26" }, picoW)).toThrow(/both GP26/);
		expect(() => boardSettings({ led_active_low: "sometimes" }, picoW)).toThrow(/led_active_low/);
	});

	test("the start-up line names the pins", () => {
		expect(describeBoard(boardSettings({}, picoW))).toBe("sensor_pin=GP26 (ADC0) led_pin=32 on-board (Wi-Fi chip GPIO 0) led_active_low=false");
		expect(describeBoard(boardSettings({ sensor_pin: 27, led_pin: 15 }, picoW))).toContain("(ADC1) led_pin=15 GP15");
	});

	test("the default id comes from the Wi-Fi chip's MAC address", () => {
		expect(idFromMac("28:CD:C1:0A:8B:1E")).toBe("nightlight-0a8b1e");
		expect(idFromMac(undefined)).toBeUndefined();
		expect(idFromMac("00:00:00:00:00:00")).toBeUndefined();
	});
});

/** What the SDK's plain pico provider says: Analog.default.pin 26, pin.led 25. */
const pico = { ledPin: 25, analogPin: 26 };

describe("Pico (no Wi-Fi) board settings", () => {
	test("defaults: the sensor on GP26, the on-board LED on GP25", () => {
		expect(boardSettings({}, pico, PICO)).toEqual({ sensorPin: 26, ledPin: 25, ledActiveLow: false, onboardLed: true, onboardLedName: "on-board GP25" });
		expect(boardSettings({}, { ledPin: undefined, analogPin: undefined }, PICO)).toMatchObject({ sensorPin: 26, ledPin: 25 });
		expect(describeBoard(boardSettings({}, pico, PICO))).toBe("sensor_pin=GP26 (ADC0) led_pin=25 on-board GP25 led_active_low=false");
	});

	test("any free GPIO takes an external LED; the board's own pins are refused", () => {
		expect(boardSettings({ led_pin: "15", sensor_pin: "27" }, pico, PICO)).toMatchObject({ ledPin: 15, sensorPin: 27, onboardLed: false });
		for (const pin of ["23", "24", "29"])
			expect(() => boardSettings({ led_pin: pin }, pico, PICO)).toThrow(/not free on the Pico \(GP23 sets the power supply's mode, GP24 senses VBUS, GP29 measures VSYS\)/);
		expect(() => boardSettings({ led_pin: "32" }, pico, PICO)).toThrow(/led_pin/);
		expect(() => boardSettings({ sensor_pin: "25" }, pico, PICO)).toThrow(/must be an ADC pin of the Pico: 26, 27 or 28/);
	});
});
